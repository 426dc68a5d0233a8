imi_add_conformance(cache mem ${CMAKE_CURRENT_SOURCE_DIR}/configs/cache_mem.ini)
