# Registers every Boost.Test case of a test executable as its own CTest test,
# so `ctest` reports (and can rerun) each case by its suite/case path.
#
# The case list is read from `<exe> --list_content` after each build, the
# same approach as CMake's gtest_discover_tests, so adding a test case needs
# no CMake edit.
#
# Example:
#   add_executable(unit_tests ...)
#   wrapq_discover_boost_tests(unit_tests)
#   # ctest -R 'dtype/' runs the cases of the dtype suite

set(_WRAPQ_BOOST_TESTS_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/WrapqBoostTestsList.cmake")

function(wrapq_discover_boost_tests target)
    set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_cases.cmake")
    add_custom_command(TARGET ${target} POST_BUILD
        COMMAND "${CMAKE_COMMAND}"
                -D "TEST_EXECUTABLE=$<TARGET_FILE:${target}>"
                -D "TEST_PREFIX=${target}"
                -D "CTEST_FILE=${ctest_file}"
                -P "${_WRAPQ_BOOST_TESTS_SCRIPT}"
        VERBATIM)
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${ctest_file}")
endfunction()
