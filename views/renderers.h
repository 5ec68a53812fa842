/* Every renderer of pre-serialised responses (views/renderers.c), for state_cache_start. */
#ifndef SPARKD_VIEWS_RENDERERS_H
#define SPARKD_VIEWS_RENDERERS_H

#include <stddef.h>

#include "state/cache.h"

extern const state_render_fn view_renderers[];
extern const size_t view_renderers_count;

#endif
