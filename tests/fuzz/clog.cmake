# The clog fuzz target (libFuzzer), for a fuzz build (clang, sanitizers): included by
# tests/fuzz/CMakeLists.txt. tools/fuzz_clog.sh builds and runs it on its own as well.
pkg_check_modules(CLOG_FUZZ_JANSSON REQUIRED IMPORTED_TARGET jansson)
add_executable(fuzz_clog ${CMAKE_CURRENT_LIST_DIR}/clog_fuzz.c)
target_link_options(fuzz_clog PRIVATE -fsanitize=fuzzer)
target_include_directories(fuzz_clog PRIVATE ${PROJECT_SOURCE_DIR}/include
                           ${PROJECT_SOURCE_DIR}/core)
target_link_libraries(fuzz_clog PRIVATE iminfra_static PkgConfig::CLOG_FUZZ_JANSSON)
