/*
 * paths: where the engine finds what it ships with: the maggy Lua library
 * and the maggy-executor binary. Environment variables override the
 * defaults (MAGGY_LUA_DIR, MAGGY_EXECUTOR).
 */
#pragma once

/* The folder holding the maggy Lua modules. Never NULL; owned by this unit. */
const char *paths_lua_dir(void);

/* The maggy-executor binary: by default next to maggy-engine. Never NULL;
 * owned by this unit. */
const char *paths_executor(void);
