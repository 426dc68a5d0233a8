imi_add_conformance(coord mem ${CMAKE_CURRENT_SOURCE_DIR}/configs/coord_mem.ini)
# mem with features turned off: the IMI_ENOTSUP paths and the polling fallbacks.
imi_add_conformance(coord mem_kv ${CMAKE_CURRENT_SOURCE_DIR}/configs/coord_mem_kv.ini)
imi_add_conformance(coord mem_lease ${CMAKE_CURRENT_SOURCE_DIR}/configs/coord_mem_lease.ini)
# On a real etcd: tools/services.sh start etcd (the endpoint comes from
# $IMI_ETCD_ENDPOINTS, default http://127.0.0.1:12379).
if(TARGET imi_coord_etcd)
  imi_add_conformance(coord etcd ${CMAKE_CURRENT_SOURCE_DIR}/configs/coord_etcd.ini)
  set_property(TEST conformance.coord.etcd APPEND PROPERTY LABELS "service;etcd")
endif()
