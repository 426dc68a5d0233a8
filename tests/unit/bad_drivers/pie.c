/* A program, not a shared object, named like a driver. */
int main(void) { return 0; }
