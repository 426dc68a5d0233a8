imi_add_conformance(cache mem ${CMAKE_CURRENT_SOURCE_DIR}/configs/cache_mem.ini)
# On real servers: tools/services.sh start redis memcached (the configs read
# $IMI_REDIS_PORT / $IMI_MEMCACHED_PORT and default to 16379 / 21211). Labelled "service"
# so that ctest -LE service leaves them out.
if(TARGET imi_cache_redis)
  imi_add_conformance(cache redis ${CMAKE_CURRENT_SOURCE_DIR}/configs/cache_redis.ini)
  set_property(TEST conformance.cache.redis APPEND PROPERTY LABELS "service;redis")
endif()
if(TARGET imi_cache_memcached)
  imi_add_conformance(cache memcached ${CMAKE_CURRENT_SOURCE_DIR}/configs/cache_memcached.ini)
  set_property(TEST conformance.cache.memcached APPEND PROPERTY LABELS "service;memcached")
endif()
