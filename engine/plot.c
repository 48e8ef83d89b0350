/* plot: hands `maggy-engine plot` over to Python. See plot.h. */
#include "plot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "run.h"

int plot_exec(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 3, sizeof *args);
	const char *old = getenv("PYTHONPATH");
	char *path = NULL;

	if (args == NULL ||
	    asprintf(&path, "%s%s%s", paths_python_dir(), old && *old ? ":" : "",
		     old && *old ? old : "") < 0) {
		fprintf(stderr, "maggy-engine: out of memory\n");
		return EXIT_FAILED;
	}
	setenv("PYTHONPATH", path, 1);
	setenv("MAGGY_ENGINE", paths_engine(), 1);
	args[0] = (char *)paths_python();
	args[1] = "-m";
	args[2] = "maggy_engine.plot";
	for (int i = 1; i < argc; i++)
		args[i + 2] = argv[i];
	execvp(args[0], args);
	fprintf(stderr, "maggy-engine: plot runs %s, which cannot start: %s\n",
		args[0], strerror(errno));
	free(path);
	free(args);
	return EXIT_USAGE;
}
