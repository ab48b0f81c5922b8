# Runs NODE SCRIPT PACKAGE INPUT and writes its stdout to OUTPUT; fails when
# node is missing or the command fails, so the dependent check cannot skip.
if(NOT NODE)
    message(FATAL_ERROR "node is required to tokenize the held-out text: run scripts/install-tokenizer")
endif()
execute_process(COMMAND ${NODE} ${SCRIPT} ${PACKAGE} ${INPUT} OUTPUT_FILE ${OUTPUT} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "${NODE} ${SCRIPT} failed with status ${status}")
endif()
