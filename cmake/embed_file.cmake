# Writes a C file holding one source file's bytes as svc_openapi_yaml / _len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
file(WRITE ${OUT} "#include <stddef.h>\nconst char svc_openapi_yaml[] = {${hex} 0x00};\nconst size_t svc_openapi_yaml_len = ${len};\n")
