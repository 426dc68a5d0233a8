imi_add_conformance(mq mem ${CMAKE_CURRENT_SOURCE_DIR}/configs/mq_mem.ini)

# Real brokers: start them with tools/services.sh start kafka nats and export what
# tools/services.sh env prints (IMI_KAFKA_BOOTSTRAP, IMI_NATS_URL) before ctest.
# Labelled "service" so that ctest -LE service leaves them out.
function(imi_mq_service_conformance driver flavour config)
  set(name conformance.mq.${driver})
  if(flavour)
    imi_add_conformance(mq ${driver}_${flavour} ${config})
    set(name conformance.mq.${driver}_${flavour})
  else()
    imi_add_conformance(mq ${driver} ${config})
  endif()
  set_property(TEST ${name} APPEND PROPERTY LABELS service ${driver})
endfunction()
if(TARGET imi_mq_kafka)
  imi_mq_service_conformance(kafka "" ${CMAKE_CURRENT_SOURCE_DIR}/configs/mq_kafka.ini)
endif()
if(TARGET imi_mq_nats)
  imi_mq_service_conformance(nats "" ${CMAKE_CURRENT_SOURCE_DIR}/configs/mq_nats.ini)
  imi_mq_service_conformance(nats js ${CMAKE_CURRENT_SOURCE_DIR}/configs/mq_nats_js.ini)
endif()
# driver = chaos in front of mem at rate 0 must pass the suite like its target.
imi_add_conformance(mq chaos ${CMAKE_CURRENT_SOURCE_DIR}/configs/mq_chaos.ini)
