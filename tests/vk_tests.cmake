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

foreach(name devices alloc limits parity views tiles cips gemm fused external hyper gated choice)
  add_executable(test_vk_${name} ${CMAKE_SOURCE_DIR}/tests/vk/test_vk_${name}.c)
  target_include_directories(test_vk_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/tests/vk)
  target_compile_definitions(test_vk_${name} PRIVATE _DEFAULT_SOURCE
    VK_TEST_TMP="${IG_VK_TEST_TMP}" IG_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
  target_link_libraries(test_vk_${name} PRIVATE inrgan_lib ${CMAKE_DL_LIBS} m)
  add_test(NAME vk_${name} COMMAND test_vk_${name})
  set_tests_properties(vk_${name} PROPERTIES ENVIRONMENT "${IG_VK_TEST_ENV}" LABELS vulkan
    TIMEOUT 600)
endforeach()

# The benchmark/check tool for real GPUs (scripts/gpu-check.sh); here only a smoke test on
# lavapipe with a tiny model (no timing is judged).
add_executable(bench_vk ${CMAKE_SOURCE_DIR}/tests/vk/bench_vk.c)
target_include_directories(bench_vk PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_SOURCE_DIR}/tests/vk)
target_compile_definitions(bench_vk PRIVATE _DEFAULT_SOURCE _POSIX_C_SOURCE=200809L
  VK_TEST_TMP="${IG_VK_TEST_TMP}" IG_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
target_link_libraries(bench_vk PRIVATE inrgan_lib ${CMAKE_DL_LIBS} m)
add_test(NAME vk_bench_smoke COMMAND bench_vk --config tiny --batch 2 --iters 1
  --paths fp32,fp32-fused,gemm,gemm-f16,gemm-coop,gemm-coop-emulated,fused,fused16,fp16,coopmat,coopmat-emulated
  --validate --check)
set_tests_properties(vk_bench_smoke PROPERTIES ENVIRONMENT "${IG_VK_TEST_ENV}" LABELS vulkan
  TIMEOUT 300)
# CIPS (a random CIPSres model from the built-in tiny-cips-res config, seeded noise): fp32, fp16
# storage and the coop tile set's scalar twin, each checked against the CPU backend.
add_test(NAME vk_bench_cips COMMAND bench_vk --config tiny-cips-res --batch 2 --iters 1
  --paths fp32,gemm-f16,gemm-coop-emulated --require-coopmat --validate --check)
set_tests_properties(vk_bench_cips PROPERTIES ENVIRONMENT "${IG_VK_TEST_ENV}" LABELS vulkan
  TIMEOUT 300 PASS_REGULAR_EXPRESSION "kernel=cips-gemm-coop-emu tiles=coop"
  FAIL_REGULAR_EXPRESSION "validation error;did not run;FAIL")
# --require-coopmat on the emulated coopmat kernel (lavapipe): the kernel really runs, so the
# check passes; a model too wide for its tiles cannot be made here (lavapipe's loop limit refuses
# the per-pixel fallback first), so the failing side is exercised only on a GPU.
add_test(NAME vk_bench_require_coopmat COMMAND bench_vk --config tiny --batch 1 --iters 1
  --paths coopmat-emulated --require-coopmat --validate)
set_tests_properties(vk_bench_require_coopmat PROPERTIES ENVIRONMENT "${IG_VK_TEST_ENV}"
  LABELS vulkan TIMEOUT 300 PASS_REGULAR_EXPRESSION "kernel=coopmat\n"
  FAIL_REGULAR_EXPRESSION "validation error;did not run;unavailable")

# --require-coopmat on the gemm kernel's cooperative-matrix tile set through its scalar twin
# (lavapipe): the twin really runs through the coop host path (kernel=gemm-coop-emu).
add_test(NAME vk_bench_require_gemm_coop COMMAND bench_vk --config tiny --batch 2 --iters 1
  --paths gemm-coop-emulated --require-coopmat --validate --check)
set_tests_properties(vk_bench_require_gemm_coop PROPERTIES ENVIRONMENT "${IG_VK_TEST_ENV}"
  LABELS vulkan TIMEOUT 300 PASS_REGULAR_EXPRESSION "kernel=gemm-coop-emu\n"
  FAIL_REGULAR_EXPRESSION "validation error;did not run;unavailable")

# inrgan bench --gemm-sweep: runs cleanly (validation) and its JSON has every row; no timing.
add_test(NAME vk_gemm_sweep COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/vk/test_gemm_sweep.py
  --inrgan $<TARGET_FILE:inrgan>)
set_tests_properties(vk_gemm_sweep PROPERTIES ENVIRONMENT "${IG_VK_TEST_ENV}" LABELS vulkan
  TIMEOUT 600)

# The dispatch record layouts (shaders/records/*.h): every field moved by one word in its
# header alone fails the C compilation on a static assertion; no positional record index left.
# Needs no device.
add_test(NAME vk_records COMMAND sh ${CMAKE_SOURCE_DIR}/tests/vk/records_check.sh
  ${CMAKE_C_COMPILER} ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
set_tests_properties(vk_records PROPERTIES LABELS vulkan TIMEOUT 300)

# The shader compiler (docs/building.md): the gated IG_SHADER_REQ variants this configure built
# or compiled out are what `inrgan devices --json` reports, the built ones pass spirv-val, and
# with the private toolchain (scripts/toolchain.sh) none is compiled out (exit 77 = that part
# skipped: another compiler). Label toolchain; needs no ASan run.
add_test(NAME toolchain_variants COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_toolchain.py variants
  --inrgan $<TARGET_FILE:inrgan> --source ${CMAKE_SOURCE_DIR} --build ${CMAKE_BINARY_DIR}
  --private-dir "${IG_TOOLCHAIN_DIR}")
# A second build (targets inrgan, test_vk_gated) with Debian 12's own glslang 12: configures
# with the KHR/NV2/coopvec variants compiled out (configure lines say so), builds, refuses their
# pipelines (IG_ERR_UNSUPPORTED, test_vk_gated) and renders on lavapipe the same bytes as this
# build. Its build folder (build/toolchain-system) is kept, so only the first run pays the
# compile (measured: 51 s for the whole test on 2 busy cores).
add_test(NAME toolchain_system_glslang COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_toolchain.py system
  --inrgan $<TARGET_FILE:inrgan> --source ${CMAKE_SOURCE_DIR} --build ${CMAKE_BINARY_DIR})
set_tests_properties(toolchain_variants toolchain_system_glslang PROPERTIES
  ENVIRONMENT "${IG_VK_TEST_ENV}" LABELS "toolchain;vulkan;no_sanitizer" SKIP_RETURN_CODE 77
  TIMEOUT 1800)
