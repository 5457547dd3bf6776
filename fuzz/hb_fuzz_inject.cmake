# Used by scripts/fuzz only while the top-level CMakeLists.txt does not yet
# have the HB_FUZZ lines: passed as CMAKE_PROJECT_hornbeamd_INCLUDE, it runs
# right after project() and schedules add_subdirectory(fuzz) for the end of
# the top-level file, which is where the real lines put it. (HB_SANITIZE is
# passed on the command line by the script.)
set(HB_FUZZ ON)
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR}
  CALL add_subdirectory ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_BINARY_DIR}/fuzz)
