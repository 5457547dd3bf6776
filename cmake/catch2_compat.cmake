# Catch2 2 or 3, whichever the system has (Debian 12 ships 2.13, Debian 13
# 3.7), with no copy of either in the tree. The tests are written against
# Catch2 2's single header, <catch2/catch.hpp>; Catch2 3 has no such header,
# so for it a one-file shim (cmake/catch2_v3_shim/catch2/catch.hpp) is put on
# Catch2::Catch2's include path. Every target that links Catch2::Catch2 gets
# it, including ones added later, so no test file needs to know.
#
# Included once from the top level, before any add_subdirectory that calls
# find_package(Catch2): the imported targets made here are visible below, and
# later find_package(Catch2) calls reuse them.
find_package(Catch2 REQUIRED)
if(Catch2_VERSION VERSION_GREATER_EQUAL 3)
  # Catch2::Catch2 is v3's library without main(); tests/test_main.cc is ours.
  target_include_directories(Catch2::Catch2 INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/catch2_v3_shim)
endif()
message(STATUS "Catch2 ${Catch2_VERSION}")
