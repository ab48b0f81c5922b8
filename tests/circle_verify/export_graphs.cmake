# Runs the gemma4_export example into an emptied directory, so that no file
# of an earlier export stays behind for check_directory.cmake to find.
#
# cmake -DEXPORTER=path/to/gemma4_export -DOUT=dir -P export_graphs.cmake

foreach(variable IN ITEMS EXPORTER OUT)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "export_graphs.cmake: pass -D${variable}=... before -P")
    endif()
endforeach()

file(REMOVE_RECURSE "${OUT}")
# Two calibration batches keep the run cheap; the graphs are the same size.
execute_process(COMMAND "${EXPORTER}" --out "${OUT}" --batches 2 RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "export_graphs.cmake: ${EXPORTER} --out ${OUT} failed with status ${status}")
endif()
