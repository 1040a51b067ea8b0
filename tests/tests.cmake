# Registered tests. Python tests run with Debian's /usr/bin/python3 (torch, numpy).
set(IG_PY /usr/bin/python3)
set(IG_CLI $<TARGET_FILE:inrgan>)

add_executable(test_core tests/test_core.c)
target_compile_definitions(test_core PRIVATE _DEFAULT_SOURCE)
target_link_libraries(test_core PRIVATE inrgan_lib)
add_test(NAME core COMMAND test_core)

add_executable(test_lower tests/test_lower.c)
target_compile_definitions(test_lower PRIVATE _DEFAULT_SOURCE IG_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
target_link_libraries(test_lower PRIVATE inrgan_lib)
add_test(NAME lower COMMAND test_lower)

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
add_test(NAME cli_help COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_cli_help.py --inrgan ${IG_CLI})
add_test(NAME cli_probes COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_cli_probes.py --inrgan ${IG_CLI})
add_test(NAME cli_readme COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_cli_readme.py --inrgan ${IG_CLI})

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
# converter resource bounds: bombs under RLIMIT_AS 512 MiB, output errors, a 15 s unpickler fuzz
add_test(NAME convert_limits COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_convert_limits.py)
set_tests_properties(convert_limits PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS no_sanitizer) # pure Python: once

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/vk_tests.cmake)
  include(${CMAKE_SOURCE_DIR}/tests/vk_tests.cmake)
endif()

add_test(NAME train COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_train.py --inrgan ${IG_CLI})
set_tests_properties(train PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
# trainer: --amp bf16 on the CPU, the loss scaler, --compile fallback, img/s + memory in the log
add_test(NAME train_amp COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_train_amp.py)
# trainer checkpoints: exact resume (bf16), split parts, SIGKILL in the middle of a save
add_test(NAME train_ckpt COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_train_ckpt.py)
# scripts/gpu-train.sh prepare/run/resume rehearsed on the CPU (tiny set, 24 s budgets)
add_test(NAME gpu_train_script COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_gpu_train_script.py)
set_tests_properties(train_amp train_ckpt gpu_train_script PROPERTIES SKIP_RETURN_CODE 77
                     TIMEOUT 300 LABELS no_sanitizer)

# pip install ./python offline into a fresh venv, console scripts, the trainer's quick start
add_test(NAME pypkg COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_pypkg.py --inrgan ${IG_CLI})
# Python packaging and the trainer: no C code of its own, so it runs in the release pass only
set_tests_properties(pypkg PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS no_sanitizer)

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

# cmake --install into a temporary prefix; consumers through pkg-config and find_package; the
# installed CLI finds share/inrgan/demo.safetensors on its own (tests/test_install.py)
if(INRGAN_SANITIZE)
  set(_ig_install_cflags "-fsanitize=address,undefined")
endif()
add_test(NAME install COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_install.py
         --build ${CMAKE_BINARY_DIR} --source ${CMAKE_SOURCE_DIR} "--cflags=${_ig_install_cflags}"
         --vulkan=$<TARGET_EXISTS:inrgan_shaders> --viewer=$<TARGET_EXISTS:inrgan-viewer>)
set_tests_properties(install PROPERTIES TIMEOUT 300)

# inrgan serve (docs/serve.md): tiles == inrgan render, ETag/304, metrics, 503, hostile corpus;
# the page in headless Chromium; nginx in front of two servers. Exit 77: skipped (no
# libmicrohttpd in this build, or chromium / nginx not installed).
add_test(NAME serve COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_serve.py --inrgan ${IG_CLI}
         --model ${CMAKE_SOURCE_DIR}/assets/demo.safetensors)
set_tests_properties(serve PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME serve_browser COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_serve_browser.py --inrgan ${IG_CLI}
         --model ${CMAKE_SOURCE_DIR}/assets/demo.safetensors)
set_tests_properties(serve_browser PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
if(INRGAN_FUZZ)
  include(${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_url.cmake)
endif()
add_test(NAME serve_nginx COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_serve_nginx.py --inrgan ${IG_CLI}
         --model ${CMAKE_SOURCE_DIR}/assets/demo.safetensors)
set_tests_properties(serve_nginx PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
add_executable(test_serve_units tests/test_serve_units.c src/serve/cache.c src/serve/pngmem.c src/serve/urlparse.c)
target_compile_definitions(test_serve_units PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(test_serve_units PRIVATE inrgan_lib)
add_test(NAME serve_units COMMAND test_serve_units)
# Tiled renders as a user meets them: peak memory within the budget, signals, open files,
# progress, 16-bit and float outputs (tests/test_render_io.py; the memory part is meaningless
# under ASan's shadow memory and skipped there)
add_executable(maxrss tests/maxrss.c)
target_compile_definitions(maxrss PRIVATE _DEFAULT_SOURCE)
if(INRGAN_SANITIZE)
  add_test(NAME render_io COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_render_io.py --inrgan ${IG_CLI} --no-memory)
else()
  add_test(NAME render_io COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_render_io.py --inrgan ${IG_CLI}
           --maxrss $<TARGET_FILE:maxrss>)
endif()
set_tests_properties(render_io PROPERTIES TIMEOUT 900)
# --shard K/N, band files and inrgan stitch (issue 17, tests/test_shard.py, docs/scale-out.md)
if(INRGAN_SANITIZE)
  add_test(NAME shard COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_shard.py --inrgan ${IG_CLI})
else()
  add_test(NAME shard COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_shard.py --inrgan ${IG_CLI}
           --maxrss $<TARGET_FILE:maxrss>)
endif()
# a real single-node Slurm (slurmctld, slurmd, munge started by the test) runs the array script of
# docs/scale-out.md: 4 bands of one image, stitched == the single render (skipped: 77)
add_test(NAME slurm COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/test_slurm.py --inrgan ${IG_CLI})
set_tests_properties(slurm PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
# No include cycles among the C sources (module level, see the script's docstring); the
# self-test first shows the check can fail.
add_test(NAME include_cycles COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/include_cycles.py --self-test ${CMAKE_SOURCE_DIR})
# Model families are table entries: IG_FAMILY_CIPS only in family tables and src/lower.c.
add_test(NAME family_sites COMMAND ${IG_PY} ${CMAKE_SOURCE_DIR}/tests/family_sites.py --self-test ${CMAKE_SOURCE_DIR})

add_executable(test_backend tests/test_backend.c)
target_compile_definitions(test_backend PRIVATE _DEFAULT_SOURCE IG_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data")
target_link_libraries(test_backend PRIVATE inrgan_lib)
add_test(NAME backend COMMAND test_backend)
