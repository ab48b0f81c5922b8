# Registers a test where a Python script (from Debian's python3-* packages)
# drives a C++ executable and compares its output with an independent
# implementation, typically PyTorch.
#
# wrapq_add_driver_test(NAME name SOURCE driver.cpp SCRIPT script.py LABEL label
#                       [BOTH_ARCHES] [PACKAGE python3-torch])
#
# With BOTH_ARCHES the driver is built twice, so that both SIMD code paths of
# the kernels run: once with wrapq_dev_flags (-march=native when
# WRAPQ_NATIVE_ARCH is on) and once for baseline x86-64, where xsimd falls
# back to SSE2. The tests are then NAME:native and NAME:baseline.
#
# The interpreter is /usr/bin/python3, where Debian installs torch and numpy;
# PATH may hold a pyenv or venv python3 without them. Without an interpreter
# the tests still run and fail, so a machine without the packages cannot pass
# the suite by skipping them.

find_program(WRAPQ_TORCH_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH
    DOC "Python interpreter that can import torch and numpy, for the driver tests")

function(wrapq_add_driver_test)
    cmake_parse_arguments(arg "BOTH_ARCHES" "NAME;SOURCE;SCRIPT;LABEL;PACKAGE" "" ${ARGN})
    if(NOT arg_PACKAGE)
        set(arg_PACKAGE python3-torch)
    endif()

    set(variants native)
    add_executable(wrapq_${arg_NAME}_native ${arg_SOURCE})
    target_link_libraries(wrapq_${arg_NAME}_native PRIVATE wrapq::wrapq wrapq_dev_flags)
    if(arg_BOTH_ARCHES AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"
       AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
        add_executable(wrapq_${arg_NAME}_baseline ${arg_SOURCE})
        target_link_libraries(wrapq_${arg_NAME}_baseline PRIVATE wrapq::wrapq)
        target_compile_options(wrapq_${arg_NAME}_baseline PRIVATE -march=x86-64)
        list(APPEND variants baseline)
    endif()

    foreach(variant IN LISTS variants)
        set(test_name ${arg_NAME}:${variant})
        if(WRAPQ_TORCH_PYTHON)
            add_test(NAME ${test_name}
                COMMAND ${WRAPQ_TORCH_PYTHON} ${arg_SCRIPT} --driver $<TARGET_FILE:wrapq_${arg_NAME}_${variant}>)
        else()
            add_test(NAME ${test_name}
                COMMAND ${CMAKE_COMMAND} -E echo
                        "${arg_PACKAGE} is required: apt-get install ${arg_PACKAGE} (no /usr/bin/python3 was found; set WRAPQ_TORCH_PYTHON)")
            set_tests_properties(${test_name} PROPERTIES FAIL_REGULAR_EXPRESSION "is required")
        endif()
        set_tests_properties(${test_name} PROPERTIES TIMEOUT 300 LABELS ${arg_LABEL})
    endforeach()
endfunction()
