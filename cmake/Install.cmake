# What `cmake --install` adds beyond the targets' own install() rules: the CMake package
# (find_package(iminfra CONFIG)), the pkg-config files, the example configs, the guides and
# the example out-of-tree driver. Components: dev (SDK), cli (example configs).
include(CMakePackageConfigHelpers)

file(STRINGS ${PROJECT_SOURCE_DIR}/include/iminfra/driver/driver.h IMI_ABI_LINE
     REGEX "^#define IMI_ABI_MAJOR ")
string(REGEX REPLACE ".* ([0-9]+)$" "\\1" IMI_ABI_MAJOR "${IMI_ABI_LINE}")
set(IMI_DRIVER_RELDIR ${CMAKE_INSTALL_LIBDIR}/iminfra/drivers)
set(IMI_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/iminfra)

install(EXPORT iminfraTargets NAMESPACE iminfra:: DESTINATION ${IMI_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/iminfraConfig.cmake.in
  ${CMAKE_BINARY_DIR}/iminfraConfig.cmake INSTALL_DESTINATION ${IMI_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR IMI_DRIVER_RELDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/iminfraConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/iminfraConfig.cmake ${CMAKE_BINARY_DIR}/iminfraConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/iminfraDriver.cmake
        DESTINATION ${IMI_CMAKE_DIR} COMPONENT dev)

# The .pc files find the prefix from their own folder, so that any install prefix
# (cmake --install --prefix, a package unpacked elsewhere) gives right paths.
file(RELATIVE_PATH IMI_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
foreach(pc iminfra iminfra-driver)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${pc}.pc.in ${CMAKE_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
          COMPONENT dev)
endforeach()

# config/default.ini and the per-driver config/examples/*.ini, as they are in the tree.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/ DESTINATION ${CMAKE_INSTALL_DATADIR}/iminfra/config
        COMPONENT cli FILES_MATCHING PATTERN "*.ini")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT dev FILES_MATCHING PATTERN "*.md")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/driver-cache-example
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT dev)
