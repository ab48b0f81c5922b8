# Script mode helper of WrapqBoostTests.cmake: turns `--list_content` output
# into add_test() calls. Boost.Test prints the tree to stderr, one unit per
# line, indented by four spaces per level, with a trailing '*' when enabled.

execute_process(
    COMMAND "${TEST_EXECUTABLE}" --list_content
    ERROR_VARIABLE listing
    OUTPUT_VARIABLE ignored
    RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "${TEST_EXECUTABLE} --list_content failed with status ${status}:\n${listing}")
endif()

string(REPLACE "\n" ";" lines "${listing}")
set(path_stack "")
set(previous_depth -1)
set(previous_path "")
set(content "")

# A unit is a test case when the next line is not deeper than it, so each
# line decides whether the previous one was a leaf.
foreach(line IN LISTS lines ITEMS "")
    if(line MATCHES "^( *)([^ *]+)\\*?$")
        string(LENGTH "${CMAKE_MATCH_1}" indent)
        math(EXPR depth "${indent} / 4")
        set(name "${CMAKE_MATCH_2}")
    else()
        set(depth -1)
    endif()

    if(previous_depth GREATER_EQUAL 0 AND NOT depth GREATER previous_depth)
        string(APPEND content
            "add_test([==[${TEST_PREFIX}:${previous_path}]==] [==[${TEST_EXECUTABLE}]==] "
            "[==[--run_test=${previous_path}]==] --log_level=message)\n")
    endif()

    if(depth GREATER_EQUAL 0)
        list(SUBLIST path_stack 0 ${depth} path_stack)
        list(APPEND path_stack "${name}")
        list(JOIN path_stack "/" previous_path)
    endif()
    set(previous_depth ${depth})
endforeach()

file(WRITE "${CTEST_FILE}" "${content}")
