# The db suite on each db driver that was built.
if(TARGET imi_db_sqlite)
  # sqlite's files live in the build tree. The reader's file must exist before the
  # read-only reader opens it: an empty file is an empty database.
  set(IMI_DB_SQLITE_DIR ${CMAKE_CURRENT_BINARY_DIR}/db_sqlite)
  file(MAKE_DIRECTORY ${IMI_DB_SQLITE_DIR})
  add_test(NAME conformance.db.sqlite.files
           COMMAND ${CMAKE_COMMAND} -E touch ${IMI_DB_SQLITE_DIR}/imi-conf-reader.db)
  set_tests_properties(conformance.db.sqlite.files PROPERTIES FIXTURES_SETUP db_sqlite_files)
  imi_add_conformance(db sqlite ${CMAKE_CURRENT_SOURCE_DIR}/configs/db_sqlite.ini)
  set_property(TEST conformance.db.sqlite APPEND PROPERTY ENVIRONMENT "IMI_DB_DIR=${IMI_DB_SQLITE_DIR}")
  set_property(TEST conformance.db.sqlite PROPERTY FIXTURES_REQUIRED db_sqlite_files)
  imi_add_conformance(db sqlite_memory ${CMAKE_CURRENT_SOURCE_DIR}/configs/db_sqlite_memory.ini)
endif()
# The server-backed drivers need tools/services.sh start postgres / mariadb; the configs
# read $IMI_PG_* / $IMI_MYSQL_* and default to the fixed loopback ports.
if(TARGET imi_db_postgres)
  imi_add_conformance(db postgres ${CMAKE_CURRENT_SOURCE_DIR}/configs/db_postgres.ini)
  set_property(TEST conformance.db.postgres APPEND PROPERTY LABELS "service;postgres")
endif()
if(TARGET imi_db_mysql)
  imi_add_conformance(db mysql ${CMAKE_CURRENT_SOURCE_DIR}/configs/db_mysql.ini)
  set_property(TEST conformance.db.mysql APPEND PROPERTY LABELS "service;mariadb")
endif()
