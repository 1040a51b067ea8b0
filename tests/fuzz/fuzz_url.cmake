# libFuzzer target of the tile server's request-target parser (src/serve/urlparse.c,
# tests/fuzz/fuzz_url.c; docs/serve.md). Included from tests/tests.cmake when INRGAN_FUZZ=ON
# (clang). It needs no libmicrohttpd: the parser is plain C over src/ig_parse.h.
add_executable(fuzz_url ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_url.c ${CMAKE_SOURCE_DIR}/src/serve/urlparse.c)
target_compile_definitions(fuzz_url PRIVATE _POSIX_C_SOURCE=200809L)
target_compile_options(fuzz_url PRIVATE -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g)
target_link_options(fuzz_url PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_libraries(fuzz_url PRIVATE inrgan_lib)
if(NOT IG_FUZZ_SECONDS)
  set(IG_FUZZ_SECONDS 20)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/scripts/fuzz.sh)
  # the shared runner (tests/fuzz/fuzz.cmake): committed seeds, scratch corpus in the build tree
  add_test(NAME fuzz_url COMMAND ${CMAKE_SOURCE_DIR}/scripts/fuzz.sh --run ${CMAKE_BINARY_DIR} url ${IG_FUZZ_SECONDS})
else()
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-work/url)
  add_test(NAME fuzz_url COMMAND fuzz_url -max_total_time=${IG_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
           -max_len=4096 -dict=${CMAKE_SOURCE_DIR}/tests/fuzz/url.dict
           ${CMAKE_BINARY_DIR}/fuzz-work/url ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/url)
endif()
set_tests_properties(fuzz_url PROPERTIES LABELS "fuzz;no_sanitizer" TIMEOUT 300)
