/* The library a test driver links against and never finds at run time. */
void imi_gone_function(void);
void imi_gone_function(void) {}
