/*
 * paths: where the engine finds what it ships with: the maggy Lua library
 * and the maggy-executor binary. Environment variables override the
 * defaults (MAGGY_LUA_DIR, MAGGY_WEB_DIR, MAGGY_EXECUTOR, MAGGY_PYTHON).
 */
#pragma once

/* The folder holding the maggy Lua modules. Never NULL; owned by this unit. */
const char *paths_lua_dir(void);

/* The folder holding the dashboard's page and assets. Never NULL. */
const char *paths_web_dir(void);

/* The Python that runs `maggy-engine plot` (the executors' own, by
 * default), and the folder of the maggy_engine package it imports. */
const char *paths_python(void);
const char *paths_python_dir(void);

/* This maggy-engine binary (to start a dashboard). Never NULL. */
const char *paths_engine(void);

/* The maggy-executor binary: by default next to maggy-engine. Never NULL;
 * owned by this unit. */
const char *paths_executor(void);
