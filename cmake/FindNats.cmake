# FindNats: the NATS C client (nats.c, Debian's libnats-dev).
#
# Provides the imported target Nats::nats and sets Nats_FOUND,
# Nats_INCLUDE_DIR, Nats_LIBRARY and Nats_VERSION (read from nats/version.h).
#
# Why not nats.c's own package: Debian 12's libnats-dev 3.4.1 ships
# cnats-config.cmake, but it names libnats_static.a and libprotobuf-c.so,
# which the package does not install, and find_package(cnats) stops with a
# fatal error. Its libnats.pc is fine; pkg-config, when present, only gives
# hints. libnats.so carries its own dependencies (OpenSSL, protobuf-c) as
# DT_NEEDED entries, so linking the one library is enough.

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(PC_Nats QUIET libnats)
endif()

find_path(Nats_INCLUDE_DIR NAMES nats/nats.h HINTS ${PC_Nats_INCLUDE_DIRS})
find_library(Nats_LIBRARY NAMES nats HINTS ${PC_Nats_LIBRARY_DIRS})

if(Nats_INCLUDE_DIR AND EXISTS "${Nats_INCLUDE_DIR}/nats/version.h")
    file(STRINGS "${Nats_INCLUDE_DIR}/nats/version.h" _nats_version_line
         REGEX "^#define NATS_VERSION_STRING +\"[0-9.]+\"")
    string(REGEX REPLACE "^#define NATS_VERSION_STRING +\"([0-9.]+)\".*" "\\1" Nats_VERSION "${_nats_version_line}")
    unset(_nats_version_line)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Nats
    REQUIRED_VARS Nats_LIBRARY Nats_INCLUDE_DIR
    VERSION_VAR Nats_VERSION)

if(Nats_FOUND AND NOT TARGET Nats::nats)
    add_library(Nats::nats UNKNOWN IMPORTED)
    set_target_properties(Nats::nats PROPERTIES
        IMPORTED_LOCATION "${Nats_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${Nats_INCLUDE_DIR}")
endif()

mark_as_advanced(Nats_INCLUDE_DIR Nats_LIBRARY)
