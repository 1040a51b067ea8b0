# tests/viewer_tests.cmake - inrgan-viewer under Xvfb on lavapipe with the validation layer
# (tests/test_viewer.py; included by tests/tests.cmake). The viewer target is defined after
# the tests (viewer/viewer.cmake), so the test is registered at the end of the directory.
# Exit 77 = skipped (no xvfb-run, lavapipe ICD or validation layer).
function(ig_viewer_register_tests)
  if(NOT TARGET inrgan-viewer)
    return()
  endif()
  add_test(NAME viewer COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_viewer.py
           --viewer $<TARGET_FILE:inrgan-viewer> --inrgan $<TARGET_FILE:inrgan>
           --model ${CMAKE_SOURCE_DIR}/tests/data/golden_tiny.safetensors)
  set_tests_properties(viewer PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS viewer)
  # the same scripted session on a CIPS model: screenshots == the printed render commands
  add_test(NAME viewer_cips COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_viewer.py
           --viewer $<TARGET_FILE:inrgan-viewer> --inrgan $<TARGET_FILE:inrgan>
           --model ${CMAKE_SOURCE_DIR}/tests/data/tiny_cips.safetensors --session-only)
  set_tests_properties(viewer_cips PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS viewer)
  # acceptance without a GPU: an FFHQ-256-size model (exported at test time by python/inrgan.export),
  # lavapipe presenting, the CPU backend rendering, screenshots == the printed render commands
  add_test(NAME viewer_full COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_viewer.py
           --viewer $<TARGET_FILE:inrgan-viewer> --inrgan $<TARGET_FILE:inrgan>
           --model ${CMAKE_SOURCE_DIR}/tests/data/golden_tiny.safetensors --full-size)
  set_tests_properties(viewer_full PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS viewer)
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL ig_viewer_register_tests)
