# `inrgan serve` (docs/serve.md): the HTTP tile server over Debian's libmicrohttpd-dev.
# Without it the command is compiled out (it then says so and exits 2).
pkg_check_modules(MHD IMPORTED_TARGET libmicrohttpd)
target_sources(inrgan PRIVATE ${CMAKE_SOURCE_DIR}/src/cli/serve.c)
if(MHD_FOUND)
  # the page (serve/page/index.html) embedded as a C array, regenerated when it changes
  set(_ig_page_c ${CMAKE_BINARY_DIR}/serve_page.c)
  add_custom_command(OUTPUT ${_ig_page_c}
    COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_SOURCE_DIR}/serve/page/index.html -DOUT=${_ig_page_c}
            -P ${CMAKE_SOURCE_DIR}/src/serve/embed.cmake
    DEPENDS ${CMAKE_SOURCE_DIR}/serve/page/index.html ${CMAKE_SOURCE_DIR}/src/serve/embed.cmake VERBATIM)
  target_sources(inrgan PRIVATE src/serve/server.c src/serve/urlparse.c src/serve/cache.c src/serve/metrics.c
                 src/serve/pngmem.c ${_ig_page_c})
  target_compile_definitions(inrgan PRIVATE INRGAN_HAVE_SERVE)
  target_link_libraries(inrgan PRIVATE PkgConfig::MHD)
else()
  message(STATUS "inrgan serve: libmicrohttpd not found (Debian: libmicrohttpd-dev): the serve command is compiled out")
endif()
