# FindAsio: standalone Asio (Debian's libasio-dev ships no CMake package).
#
# Provides the imported target Asio::Asio and sets Asio_FOUND,
# Asio_INCLUDE_DIR and Asio_VERSION (read from asio/version.hpp).

find_path(Asio_INCLUDE_DIR NAMES asio.hpp asio/version.hpp)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
    file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
         REGEX "^#define ASIO_VERSION [0-9]+")
    string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_version_number "${_asio_version_line}")
    # ASIO_VERSION is XXYYZZ: major * 100000 + minor * 100 + patch.
    math(EXPR _asio_major "${_asio_version_number} / 100000")
    math(EXPR _asio_minor "${_asio_version_number} / 100 % 1000")
    math(EXPR _asio_patch "${_asio_version_number} % 100")
    set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
    unset(_asio_version_line)
    unset(_asio_version_number)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio
    REQUIRED_VARS Asio_INCLUDE_DIR
    VERSION_VAR Asio_VERSION)

# ASIO_DISABLE_STD_ALIGNED_ALLOC: Asio 1.22 decides between aligned_alloc and
# operator new from a libstdc++ macro that is only defined once a standard
# header was included, so files that include Asio first and files that do
# not disagree on an inline function (ASan: alloc-dealloc-mismatch). Fixing
# the choice for every file that uses the target removes the hazard.
# ASIO_DISABLE_THREAD_KEYWORD_EXTENSION (clang only): clang may reuse a
# thread-local address across a co_await that resumed on another thread;
# see include/hl7/detail/asio_config.hpp.
if(Asio_FOUND AND NOT TARGET Asio::Asio)
    add_library(Asio::Asio INTERFACE IMPORTED)
    set_target_properties(Asio::Asio PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
        INTERFACE_COMPILE_DEFINITIONS
            "ASIO_STANDALONE;ASIO_NO_DEPRECATED;ASIO_DISABLE_STD_ALIGNED_ALLOC;$<$<CXX_COMPILER_ID:Clang>:ASIO_DISABLE_THREAD_KEYWORD_EXTENSION>")
endif()

mark_as_advanced(Asio_INCLUDE_DIR)
