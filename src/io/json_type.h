/* Names of JSON value types for messages ("a string", "an array"), shared by the JSONL
 * reader and the server's request parser. */
#ifndef SHELF_IO_JSON_TYPE_H
#define SHELF_IO_JSON_TYPE_H

#include <cjson/cJSON.h>

const char *json_type_name(const cJSON *v);

#endif
