# Registered tests. Python tests run with Debian's /usr/bin/python3 (torch, numpy).
set(IG_PY /usr/bin/python3)
set(IG_CLI $<TARGET_FILE:inrgan>)

add_executable(test_core tests/test_core.c)
target_compile_definitions(test_core PRIVATE _DEFAULT_SOURCE)
target_link_libraries(test_core PRIVATE inrgan_lib)
add_test(NAME core COMMAND test_core)

add_executable(test_golden tests/test_golden.c)
target_compile_definitions(test_golden PRIVATE IG_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
target_link_libraries(test_golden PRIVATE inrgan_lib)
add_test(NAME golden COMMAND test_golden)

add_test(NAME model_corrupt COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_model_corrupt.py
         --inrgan ${IG_CLI} --model ${CMAKE_SOURCE_DIR}/tests/data/golden_tiny.safetensors)
# hostile and oversized inputs: header bombs, out of memory, FIFOs, strict .npy (issue 16)
add_test(NAME loader_limits COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_loader_limits.py
         --inrgan ${IG_CLI} --model ${CMAKE_SOURCE_DIR}/tests/data/golden_tiny.safetensors)
set_tests_properties(loader_limits PROPERTIES TIMEOUT 600)

# Python-driven tests: exit 77 = skipped (torch missing)
add_test(NAME python_io COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_python_io.py)
add_test(NAME parity_torch COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_parity_torch.py --inrgan ${IG_CLI})
add_test(NAME cli COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_cli.py --inrgan ${IG_CLI} --full)
set_tests_properties(python_io parity_torch cli PROPERTIES SKIP_RETURN_CODE 77)

add_executable(test_views tests/test_views.c)
target_link_libraries(test_views PRIVATE inrgan_lib)
add_test(NAME views_nearest COMMAND test_views ${CMAKE_SOURCE_DIR}/tests/data/golden_tiny.safetensors)
add_test(NAME views_bilinear COMMAND test_views ${CMAKE_SOURCE_DIR}/tests/data/tiny_bil.safetensors)

add_test(NAME bench COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_bench.py --inrgan ${IG_CLI})
set_tests_properties(bench PROPERTIES SKIP_RETURN_CODE 77)

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/viewer_tests.cmake)
  include(${CMAKE_SOURCE_DIR}/tests/viewer_tests.cmake)
endif()

add_test(NAME convert COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_convert.py --inrgan ${IG_CLI})
set_tests_properties(convert PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/vk_tests.cmake)
  include(${CMAKE_SOURCE_DIR}/tests/vk_tests.cmake)
endif()

add_test(NAME train COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_train.py --inrgan ${IG_CLI})
set_tests_properties(train PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)

add_test(NAME cips_python COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_cips_python.py)
set_tests_properties(cips_python PROPERTIES SKIP_RETURN_CODE 77)

# CIPS: C CPU backend vs the PyTorch CIPSskip; the full-size converted fixture only outside the
# sanitizer build (a 446-GFLOP render under ASan would take many minutes)
if(INRGAN_SANITIZE)
  add_test(NAME cips_parity COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_cips_parity.py --inrgan ${IG_CLI})
else()
  add_test(NAME cips_parity COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_cips_parity.py --inrgan ${IG_CLI} --full)
endif()
set_tests_properties(cips_parity PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
