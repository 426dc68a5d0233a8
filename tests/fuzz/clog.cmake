# The clog fuzz target (libFuzzer), for a fuzz build (clang, sanitizers): included by
# tests/fuzz/CMakeLists.txt; tools/fuzz.sh runs it with the others.
pkg_check_modules(CLOG_FUZZ_JANSSON REQUIRED IMPORTED_TARGET jansson)
add_executable(fuzz_clog ${CMAKE_CURRENT_LIST_DIR}/clog_fuzz.c)
target_link_options(fuzz_clog PRIVATE -fsanitize=fuzzer)
target_include_directories(fuzz_clog PRIVATE ${PROJECT_SOURCE_DIR}/include
                           ${IMI_CORE_INCLUDE_DIRS})
target_link_libraries(fuzz_clog PRIVATE iminfra_static PkgConfig::CLOG_FUZZ_JANSSON)
