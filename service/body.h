/* The one JSON body reader (STYLE rule 2): a spec array of typed fields in the domain's types
 * fills a struct, or names every bad field by its JSON path ("actions[2].amount") in
 * `errors: [{field, code, message}]`. Every POST/PATCH handler reads its body through it. */
#ifndef SPARKD_SERVICE_BODY_H
#define SPARKD_SERVICE_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "risk/u256.h"
#include "service/errors.h"
#include "service/router.h"

struct svc_request;

enum svc_body_type {
  SVC_BODY_STRING,  /* const char * owned by the returned struct svc_body; length lo..hi (hi 0: any) */
  SVC_BODY_BOOL,    /* bool */
  SVC_BODY_INT,     /* long long, lo..hi */
  SVC_BODY_ADDRESS, /* char[43]: "0x" and 40 hex digits, stored lowercase */
  SVC_BODY_U256,    /* u256 from a string of decimal digits below 2^bits (2^256 when bits is 0); the
                     * string `word` (when set) may stand instead and sets the bool at word_flag */
  SVC_BODY_ENUM,    /* int: the index of the string in names (NULL-terminated) */
  SVC_BODY_OBJECT,  /* the struct at offset, filled by sub */
  SVC_BODY_ARRAY,   /* lo..hi elements of elem_size at offset, their count (size_t) at count_offset;
                     * each element is an object read by sub, or, when sub is one field without a
                     * name, a value read by that field (offsets within the element) */
  SVC_BODY_MAP,     /* an object of any keys, stored like an ARRAY: each member's key (const char *)
                     * at key_offset of its element and its value read by the nameless sub[0] */
};

struct svc_body_field {
  const char *name;
  enum svc_body_type type;
  bool required;
  bool no_null;             /* an optional field that may be omitted but not null (wrong_type): for a PATCH,
                             * where null would read as "leave it" though it looks like "clear it" */
  size_t offset;            /* of the destination within the struct being filled */
  size_t given;             /* 1 + offset of a bool set when the field is present and not null; 0: none */
  long long lo, hi;         /* INT bounds; STRING length; ARRAY and MAP element count (hi: capacity) */
  const char *const *names; /* ENUM */
  const char *word;         /* U256 */
  unsigned bits;            /* U256: the value must be below 2^bits; 0: any uint256 */
  size_t word_flag;         /* U256: 1 + offset of the bool set when `word` was given */
  size_t text;              /* U256: 1 + offset of a const char * given the string as sent (borrowed
                             * like a STRING's), to echo it back; 0: none */
  const struct svc_body_field *sub;
  size_t nsub;
  size_t elem_size, count_offset, key_offset; /* ARRAY, MAP */
};

/* 1 + offset of member in type: the form of `given`, `word_flag` and `text` (0 stays "none"). */
#define SVC_BODY_FLAG(type, member) (offsetof(type, member) + 1)

/* Reads obj (a JSON object) into out by spec, naming fields "<prefix>.<name>" (just "<name>"
 * when prefix is empty); unknown members are refused. Returns true when nothing was wrong, else
 * false with one {field, code, message} per problem appended to errors. */
bool svc_body_read(json_t *obj, const struct svc_body_field *spec, size_t n, void *out, const char *prefix,
                   json_t *errors);

/* A read body: owns what its STRING destinations (and MAP keys) point into. */
struct svc_body;

/* Parses text as one JSON object (duplicate keys refused) and reads it into out by spec; out must
 * start zeroed (array elements past those read excepted). Valid bodies are read by a single-pass
 * scanner over a private copy of text, driven by the same spec; anything it does not fully
 * understand, and every error, is read again from scratch by jansson, so errors come from one
 * reader. Returns the body (free with svc_body_free), or NULL with *err set to malformed_json,
 * duplicate_json_key or validation_failed, detail filled, and the field problems appended to
 * errors. */
struct svc_body *svc_body_decode(const char *text, size_t len, const struct svc_body_field *spec, size_t n, void *out,
                                 json_t *errors, enum svc_error *err, char *detail, size_t detail_len);

/* As svc_body_decode on the request's body; returns the body, or NULL after replying 400. */
struct svc_body *svc_body_parse(struct svc_request *req, const struct svc_body_field *spec, size_t n, void *out);

/* As svc_body_parse, but field problems are appended to errors and the body is still returned
 * (a field that failed is left unset and its `given` flag clear), so the handler's own checks add
 * to the same 400; returns NULL only after replying 400 for a body that is not a JSON object. */
struct svc_body *svc_body_parse_collect(struct svc_request *req, const struct svc_body_field *spec, size_t n, void *out,
                                        json_t *errors);

/* Returns the number of members of the body's top-level object, null ones included. */
size_t svc_body_members(const struct svc_body *b);

/* Frees b and the strings the destinations it filled point into; NULL is ignored. */
void svc_body_free(struct svc_body *b);

/* Replies 400 validation_failed naming every entry of errors (taken); returns the reply's result.
 * For the checks across fields a handler makes after reading. */
enum svc_handler_result svc_reply_validation(struct svc_request *req, json_t *errors);

#endif
