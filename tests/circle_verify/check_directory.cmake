# Runs wrapq_circle_check on every *.circle file of a directory, because a
# CTest command line cannot expand a glob.
#
# cmake -DCHECKER=path/to/wrapq_circle_check -DDIR=dir [-DEXPECTED_COUNT=N]
#       [-DOPTIONS=opt1;opt2...] -P check_directory.cmake
#
# EXPECTED_COUNT, when given, is the number of .circle files the directory
# must contain, so an exporter that writes fewer graphs fails here too.

foreach(variable IN ITEMS CHECKER DIR)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "check_directory.cmake: pass -D${variable}=... before -P")
    endif()
endforeach()

file(GLOB models LIST_DIRECTORIES false "${DIR}/*.circle")
list(SORT models)
list(LENGTH models count)
if(count EQUAL 0)
    message(FATAL_ERROR "check_directory.cmake: ${DIR} contains no .circle file; run the exporter into it first")
endif()
if(DEFINED EXPECTED_COUNT AND NOT count EQUAL EXPECTED_COUNT)
    message(FATAL_ERROR "check_directory.cmake: ${DIR} contains ${count} .circle files, expected ${EXPECTED_COUNT}: ${models}")
endif()

execute_process(COMMAND "${CHECKER}" ${OPTIONS} ${models} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "check_directory.cmake: wrapq_circle_check failed with status ${status}; see its report above")
endif()
