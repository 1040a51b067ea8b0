# cmake -DIN=file -DOUT=file.c -P embed.cmake: the file as `const unsigned char ig_serve_page_html[]`
# (NUL-terminated) and its length.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN} by src/serve/embed.cmake */\n#include <stddef.h>\n"
     "const unsigned char ig_serve_page_html[] = {\n${body}0x00};\nconst size_t ig_serve_page_html_len = ${len};\n")
