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
# Behind Redis Sentinel and on a Redis Cluster: the script starts the topology
# (tools/clusters/redis-<topology>.sh, ports 23000-23012 and 23100-23205), runs the suite
# with `imi conformance` on configs/cache_redis_<topology>.ini, and stops it.
if(TARGET imi_cache_redis)
  foreach(topo sentinel cluster)
    add_test(NAME conformance.cache.redis_${topo}
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/cache_redis_${topo}.sh
                     $<TARGET_FILE:imi> $<TARGET_FILE:cache_redis_failover> ${PROJECT_SOURCE_DIR}
                     conformance)
    set_tests_properties(conformance.cache.redis_${topo} PROPERTIES
      ENVIRONMENT "IMI_DRIVER_PATH=${IMI_BUILD_DRIVER_DIR}"
      LABELS "conformance;cache;service;redis" RESOURCE_LOCK redis_${topo}_ports TIMEOUT 240)
  endforeach()
endif()
# driver = chaos in front of mem at rate 0 must pass the suite like its target.
imi_add_conformance(cache chaos ${CMAKE_CURRENT_SOURCE_DIR}/configs/cache_chaos.ini)
