# Finds llhttp. Prefers a system library (libllhttp + llhttp.h); otherwise builds the C sources
# that Debian's node-llhttp package ships under /usr/share/llhttp with the header under
# /usr/share/include/llhttp. Defines the imported target LLHTTP::llhttp.
include(FindPackageHandleStandardArgs)

find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/include /usr/local/include NO_DEFAULT_PATH)
find_library(LLHTTP_LIBRARY NAMES llhttp)

if(LLHTTP_INCLUDE_DIR AND LLHTTP_LIBRARY)
  set(LLHTTP_FROM "system library")
else()
  find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp NO_DEFAULT_PATH)
  find_path(LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
  set(LLHTTP_LIBRARY "")
  set(LLHTTP_FROM "sources in ${LLHTTP_SOURCE_DIR}")
endif()

find_package_handle_standard_args(LLHTTP REQUIRED_VARS LLHTTP_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "install Debian's node-llhttp (scripts/install-deps.sh does)")

if(LLHTTP_FOUND AND NOT TARGET LLHTTP::llhttp)
  if(LLHTTP_LIBRARY)
    add_library(LLHTTP::llhttp UNKNOWN IMPORTED)
    set_target_properties(LLHTTP::llhttp PROPERTIES IMPORTED_LOCATION "${LLHTTP_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${LLHTTP_INCLUDE_DIR}")
  else()
    add_library(dlb_llhttp STATIC ${LLHTTP_SOURCE_DIR}/llhttp.c ${LLHTTP_SOURCE_DIR}/api.c
      ${LLHTTP_SOURCE_DIR}/http.c)
    target_include_directories(dlb_llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
    set_target_properties(dlb_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
    target_compile_options(dlb_llhttp PRIVATE -O2 -w)
    target_compile_definitions(dlb_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
    add_library(LLHTTP::llhttp ALIAS dlb_llhttp)
  endif()
  message(STATUS "llhttp: ${LLHTTP_FROM}")
endif()
