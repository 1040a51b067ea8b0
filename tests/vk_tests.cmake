# tests/vk_tests.cmake - the Vulkan backend's tests (included by tests/tests.cmake).
# They run on lavapipe with the Khronos validation layer on; a validation error fails a test.
# Label "vulkan"; set INRGAN_TEST_GPU to run them on another device (scripts/gpu-check.sh).
if(NOT TARGET inrgan_shaders)
  return()
endif()

set(IG_VK_TEST_TMP ${CMAKE_BINARY_DIR}/vk-test-tmp)
file(MAKE_DIRECTORY ${IG_VK_TEST_TMP})
set(IG_VK_TEST_ENV
  "VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
  "VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"
  "LP_NUM_THREADS=2")

foreach(name devices alloc limits parity)
  add_executable(test_vk_${name} ${CMAKE_SOURCE_DIR}/tests/vk/test_vk_${name}.c)
  target_include_directories(test_vk_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/tests/vk)
  target_compile_definitions(test_vk_${name} PRIVATE _DEFAULT_SOURCE
    VK_TEST_TMP="${IG_VK_TEST_TMP}" IG_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
  target_link_libraries(test_vk_${name} PRIVATE inrgan_lib ${CMAKE_DL_LIBS} m)
  add_test(NAME vk_${name} COMMAND test_vk_${name})
  set_tests_properties(vk_${name} PROPERTIES ENVIRONMENT "${IG_VK_TEST_ENV}" LABELS vulkan
    TIMEOUT 600)
endforeach()
