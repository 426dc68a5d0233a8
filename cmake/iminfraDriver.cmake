# iminfra_add_driver(<kind> <name> SOURCES ... [LIBS ...] [INSTALL_DIR dir])
#
# Builds a driver the way the core expects it: a loadable module named
# imi_<kind>_<name>.so (no "lib" prefix), position-independent, built against the SDK
# headers, exporting nothing but its entry function (IMI_DRIVER_DEFINE). Installs it into
# INSTALL_DIR (default: lib/iminfra/drivers under the project's install prefix); point
# [drivers] path or IMI_DRIVER_PATH there, or load it with driver = /path/to/it.so.
function(iminfra_add_driver kind name)
  cmake_parse_arguments(D "" "INSTALL_DIR" "SOURCES;LIBS" ${ARGN})
  if(NOT kind MATCHES "^(cache|mq|db|coord)$")
    message(FATAL_ERROR "iminfra_add_driver: kind must be cache, mq, db or coord, not '${kind}'")
  endif()
  set(t imi_${kind}_${name})
  add_library(${t} MODULE ${D_SOURCES})
  set_target_properties(${t} PROPERTIES PREFIX "" OUTPUT_NAME ${t} SUFFIX ".so"
    POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  target_link_libraries(${t} PRIVATE iminfra::driver ${D_LIBS})
  if(NOT D_INSTALL_DIR)
    include(GNUInstallDirs)
    set(D_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/iminfra/drivers)
  endif()
  install(TARGETS ${t} LIBRARY DESTINATION ${D_INSTALL_DIR})
endfunction()
