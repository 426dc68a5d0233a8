# Debian packages with CPack, split the way Debian splits a driver framework:
#   libiminfra<major>        the shared library                       (component lib)
#   libiminfra-dev           headers, SDK, static library, CMake and pkg-config files,
#                            guides, the example driver               (component dev)
#   iminfra-tools            the imi CLI and example configs          (component cli)
#   iminfra-bench            imi-bench, imi with the raw-client baselines (component bench)
#   iminfra-driver-<kind>-<name>  one per driver                      (driver-<kind>-<name>)
# Depends come from dpkg-shlibdeps per package, so a driver's package pulls its own client
# library and nothing else. Every host of drivers (the library, the CLI) provides the
# virtual package iminfra-driver-abi-<major>, which every driver package depends on.
#   cpack -G DEB    (configure with -DCMAKE_INSTALL_PREFIX=/usr for release packages, so
#                    that the core's compiled-in driver folder is the packaged one)
set(IMI_ABI_PKG iminfra-driver-abi-${IMI_ABI_MAJOR})
set(IMI_LIB_PKG libiminfra${PROJECT_VERSION_MAJOR})

set(CPACK_PACKAGE_NAME iminfra)
set(CPACK_PACKAGE_VENDOR "im-infra")
set(CPACK_PACKAGE_CONTACT "im-infra maintainers <im-infra@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "C infrastructure library with loadable backend drivers")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS OFF)

set(CPACK_DEBIAN_LIB_PACKAGE_NAME ${IMI_LIB_PKG})
set(CPACK_DEBIAN_LIB_PACKAGE_PROVIDES ${IMI_ABI_PKG})
set(CPACK_COMPONENT_LIB_DESCRIPTION "im-infra shared library\n The core: config, logging, errors, cache, mq, db and coord front-ends, the driver loader.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libiminfra-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "${IMI_LIB_PKG} (= ${PROJECT_VERSION}), libinih-dev, libjansson-dev, libltdl-dev, pkg-config")
set(CPACK_COMPONENT_DEV_DESCRIPTION "im-infra development files and driver SDK\n Headers, the driver SDK, the static library, CMake and pkg-config files, the guides and an example out-of-tree driver.")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME iminfra-tools)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_CLI_PACKAGE_PROVIDES ${IMI_ABI_PKG})
set(CPACK_COMPONENT_CLI_DESCRIPTION "im-infra command-line tool\n imi: drivers, check, conformance, cache/mq/db/coord commands, bench.")

set(CPACK_DEBIAN_BENCH_PACKAGE_NAME iminfra-bench)
set(CPACK_DEBIAN_BENCH_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_BENCH_DESCRIPTION "im-infra benchmarks against the raw client libraries\n imi-bench: imi whose bench command also runs each workload through the backend's own C client.")

set(CPACK_COMPONENTS_ALL lib dev cli bench)
get_property(IMI_ALL_DRIVERS GLOBAL PROPERTY IMI_DRIVERS)
foreach(t ${IMI_ALL_DRIVERS})
  string(REGEX REPLACE "^imi_([a-z]+)_(.+)$" "driver-\\1-\\2" comp ${t})
  string(REGEX REPLACE "^imi_([a-z]+)_(.+)$" "\\1 driver '\\2'" what ${t})
  string(TOUPPER ${comp} COMP)
  list(APPEND CPACK_COMPONENTS_ALL ${comp})
  set(CPACK_DEBIAN_${COMP}_PACKAGE_NAME iminfra-${comp})
  set(CPACK_DEBIAN_${COMP}_PACKAGE_DEPENDS ${IMI_ABI_PKG})
  set(CPACK_COMPONENT_${COMP}_DESCRIPTION "im-infra ${what}\n Loaded by name by libiminfra and imi from the drivers folder.")
endforeach()

include(CPack)
