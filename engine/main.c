/* maggy-engine: command line. Parses arguments and hands over to the
 * subcommand (run.c for run and simulate, show.c). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dashboard.h"
#include "export.h"
#include "gpus.h"
#include "logs.h"
#include "plot.h"
#include "run.h"
#include "show.h"

#define VERSION "0.1.0"

static const char usage[] =
	"usage: maggy-engine <command> [options]\n"
	"\n"
	"commands:\n"
	"  run EXPERIMENT.lua   run an experiment to its end\n"
	"      -w, --workers N    local executor processes (default: one per\n"
	"                         GPU, or per CPU on a machine without); 0\n"
	"                         waits for executors started elsewhere\n"
	"                         (e.g. Spark)\n"
	"      -d, --dir DIR      where the store, secret and summary.json go\n"
	"                         (default: maggy-runs/NAME-YYYYmmdd-HHMMSS)\n"
	"      -s, --seed S       seed of the strategies (overrides the script)\n"
	"      -l, --listen H:P   address executors connect to\n"
	"                         (default: 127.0.0.1:0, a free loopback port)\n"
	"      --max-connections N  executor connections served at once\n"
	"                         (default 1024; more wait to be accepted)\n"
	"      -q, --quiet        do not echo what the trials and strategies\n"
	"                         print (it is stored: maggy-engine logs)\n"
	"      --progress MODE    auto (default): a status line updated in\n"
	"                         place on a terminal, plain lines otherwise;\n"
	"                         live, plain, or off (no status and no line\n"
	"                         per trial)\n"
	"      --no-progress      the same as --progress off\n"
	"      --progress-every S seconds between plain status lines\n"
	"                         (default 10)\n"
	"      -v, --verbose      errors whole, with the library's traceback\n"
	"                         (by default: the message at your line)\n"
	"      --dashboard [HOST:]PORT  serve the live dashboard there while\n"
	"                         it runs (PORT alone: loopback; see\n"
	"                         maggy-engine dashboard)\n"
	"      --no-fsync         do not wait for the disk on each commit: a\n"
	"                         result survives a crash of the engine, but not\n"
	"                         of the machine (faster with many tiny trials)\n"
	"  resume DIR           continue an interrupted experiment (engine\n"
	"                       killed, machine rebooted, Ctrl-C): finished\n"
	"                       trials are kept, interrupted ones run again,\n"
	"                       the strategies go on where they were\n"
	"      -w, --workers N, -l, --listen H:P, -q, --quiet, -v, --verbose,\n"
	"      --dashboard, --progress, --no-progress, --progress-every,\n"
	"      --no-fsync, --max-connections\n"
	"                         as for run (--listen defaults to the\n"
	"                         address the experiment had)\n"
	"      --force            resume even though the script changed\n"
	"  simulate EXPERIMENT.lua --benchmark B   run the experiment's\n"
	"                       strategies against a benchmark on a virtual\n"
	"                       clock, in seconds (see docs/simulate.md)\n"
	"      -b, --benchmark B  branin, hartmann3, hartmann6 (and *_mf with a\n"
	"                         budget), or a CSV file of learning curves or\n"
	"                         tabular results (see docs/benchmarks.md)\n"
	"      -w, --workers N    virtual executors (default 4)\n"
	"      --bsp              start trials in synchronized waves of N, as\n"
	"                         the baseline of the Maggy paper\n"
	"      -d, --dir, -s, --seed, -q, --quiet, -v, --verbose, --dashboard,\n"
	"      --progress, --no-progress, --progress-every\n"
	"                         as for run (plain status lines come at\n"
	"                         each tenth of the trials); the directory\n"
	"                         also gets trace.csv and simulation.json\n"
	"  check EXPERIMENT.lua load the script as run would and say what it\n"
	"                       would run (its settings and search space), or\n"
	"                       why it cannot; runs nothing\n"
	"      -b, --benchmark B  as simulate would load it on B\n"
	"      -v, --verbose      errors whole, with the library's traceback\n"
	"  show DIR             print the summary of a stored experiment\n"
	"                       (also while it runs) and its 10 best trials\n"
	"      --top N            the N best trials (0: none)\n"
	"      -a, --all          every trial, best first\n"
	"      --json             the summary as JSON, every trial in it\n"
	"      -v, --verbose      the run's error whole, with its traceback\n"
	"  logs DIR [TRIAL]     print the stored output lines of one trial, or\n"
	"                       of all trials and then those outside trials\n"
	"                       (strategies, executors); a failed trial's\n"
	"                       traceback comes after its lines\n"
	"      -f, --follow       go on printing new lines while the\n"
	"                         experiment runs, until it (or TRIAL) ends\n"
	"  export DIR           the trials as CSV rows, one per trial, params\n"
	"                       as params_NAME columns (pandas: pd.read_csv)\n"
	"      --format csv|json  CSV (default) or a JSON array of objects\n"
	"      --history          the metric histories instead: trial, step,\n"
	"                         value, time, one row per point\n"
	"      --ablation         an ablation study's table instead\n"
	"      -o, --out FILE     write there instead of stdout\n"
	"  plot DIR --out FILE  the learning curves and the best value so far\n"
	"                       (and an ablation study's effects) as a .png,\n"
	"                       .svg or .pdf, with matplotlib\n"
	"      --what W           curves, best, ablation or all (default)\n"
	"  dashboard DIR        serve a web page of the experiment (trials,\n"
	"                       learning curves, best so far, parameters,\n"
	"                       logs), finished or running, read-only, until\n"
	"                       Ctrl-C (API: docs/dashboard.md)\n"
	"      --dashboard [HOST:]PORT  where (default 127.0.0.1:8765; port\n"
	"                         0: any free port)\n"
	"  help                 this text\n"
	"\n"
	"exit codes: 0 finished, 1 the experiment failed, 2 bad arguments or a\n"
	"broken experiment script, 130 interrupted.\n"
	"environment: MAGGY_LUA_DIR (the maggy Lua library), MAGGY_EXECUTOR\n"
	"(the maggy-executor binary), MAGGY_WEB_DIR (the dashboard's page),\n"
	"MAGGY_PYTHON (the Python of plot).\n";

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "maggy-engine: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see maggy-engine help)\n");
	return EXIT_USAGE;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v > 0) || v > 1e6)
		return -1;
	*out = v;
	return 0;
}

/* One local executor per GPU (gpus.h) on a machine with GPUs, where more
 * would share a device; one per CPU elsewhere. */
static int default_workers(void)
{
	struct gpus g;
	long n;

	if (gpus_find(&g) == 0 && g.n > 0) {
		n = g.n;
		gpus_free(&g);
		return (int)n;
	}
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Options of `run`, `resume` and `simulate`; each refuses the others'. */
static int refused_option(int ch, int simulate, int resume)
{
	if (simulate)
		return ch == 'l' || ch == 'F' || ch == 'f' || ch == 'C';
	if (resume)
		return ch == 'b' || ch == 'B' || ch == 'd' || ch == 's';
	return ch == 'b' || ch == 'B' || ch == 'f';
}

static int cmd_run(int argc, char **argv, int simulate, int resume)
{
	static const struct option longopts[] = {
		{ "workers", required_argument, NULL, 'w' },
		{ "dir", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-fsync", no_argument, NULL, 'F' },
		{ "benchmark", required_argument, NULL, 'b' },
		{ "bsp", no_argument, NULL, 'B' },
		{ "force", no_argument, NULL, 'f' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dashboard", required_argument, NULL, 'D' },
		{ "progress", required_argument, NULL, 'P' },
		{ "no-progress", no_argument, NULL, 'N' },
		{ "progress-every", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = simulate ? "simulate" : resume ? "resume" : "run";
	struct run_options o = { .workers = simulate ? 4 : default_workers(),
				 .progress_every = 10 };
	long long v;
	int ch;

	while ((ch = getopt_long(argc, argv, "w:d:s:l:qvb:h", longopts, NULL)) != -1) {
		if (refused_option(ch, simulate, resume))
			return bad_usage("that option is not one of %s's", cmd);
		switch (ch) {
		case 'w':
			if (parse_int(optarg, simulate, 4096, &v) < 0)
				return bad_usage("--workers wants a number from "
						 "0 (1 for simulate) to 4096, "
						 "not '%s'", optarg);
			o.workers = (int)v;
			break;
		case 'd': o.dir = optarg; break;
		case 's':
			if (parse_int(optarg, 0, LLONG_MAX, &v) < 0)
				return bad_usage("--seed wants a non-negative "
						 "integer, not '%s'", optarg);
			o.seed = v;
			o.has_seed = 1;
			break;
		case 'l': o.listen = optarg; break;
		case 'q': o.quiet = 1; break;
		case 'v': o.verbose = 1; break;
		case 'D': o.dashboard = optarg; break;
		case 'F': o.no_fsync = 1; break;
		case 'b': o.benchmark = optarg; break;
		case 'B': o.bsp = 1; break;
		case 'f': o.force = 1; break;
		case 'C':
			if (parse_int(optarg, 1, 1000000, &v) < 0)
				return bad_usage("--max-connections wants a "
						 "number from 1, not '%s'",
						 optarg);
			o.max_connections = (int)v;
			break;
		case 'P':
			if (console_parse_mode(optarg, &o.progress) < 0)
				return bad_usage("--progress is auto, live, "
						 "plain or off, not '%s'",
						 optarg);
			break;
		case 'N': o.progress = CONSOLE_OFF; break;
		case 'E':
			if (parse_seconds(optarg, &o.progress_every) < 0)
				return bad_usage("--progress-every wants "
						 "seconds above 0, not '%s'",
						 optarg);
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return bad_usage("bad option for %s", cmd);
		}
	}
	if (optind != argc - 1)
		return bad_usage(resume ? "%s needs exactly one DIR"
					: "%s needs exactly one EXPERIMENT.lua", cmd);
	if (simulate && o.benchmark == NULL)
		return bad_usage("%s needs --benchmark (a name like branin, or "
				 "a CSV file; see docs/simulate.md)", cmd);
	if (resume)
		o.resume = argv[optind];
	else
		o.script = argv[optind];
	return run_experiment(&o);
}

static int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "benchmark", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_options o = { .check = 1 };
	int ch;

	while ((ch = getopt_long(argc, argv, "vb:h", longopts, NULL)) != -1) {
		if (ch == 'v')
			o.verbose = 1;
		else if (ch == 'b')
			o.benchmark = optarg;
		else if (ch == 'h')
			return fputs(usage, stdout), EXIT_OK;
		else
			return bad_usage("%s", "bad option for check");
	}
	if (optind != argc - 1)
		return bad_usage("%s", "check needs exactly one EXPERIMENT.lua");
	o.script = argv[optind];
	return run_experiment(&o);
}

static int cmd_show(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "top", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct show_options o = { .top = 10 };
	long long v;
	int ch;

	while ((ch = getopt_long(argc, argv, "jvah", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': o.as_json = 1; break;
		case 'v': o.verbose = 1; break;
		case 'a': o.top = -1; break;
		case 't':
			if (parse_int(optarg, 0, LONG_MAX, &v) < 0)
				return bad_usage("--top wants a number of "
						 "trials, not '%s'", optarg);
			o.top = (long)v;
			break;
		case 'h': return fputs(usage, stdout), EXIT_OK;
		default: return bad_usage("%s", "bad option for show");
		}
	}
	if (optind != argc - 1)
		return bad_usage("%s", "show needs exactly one DIR");
	return show_experiment(argv[optind], &o);
}

static int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "history", no_argument, NULL, 'H' },
		{ "ablation", no_argument, NULL, 'A' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct export_options o = { .table = EXPORT_TRIALS };
	int ch;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "csv") != 0 &&
			    strcmp(optarg, "json") != 0)
				return bad_usage("--format is csv or json, not "
						 "'%s'", optarg);
			o.json = strcmp(optarg, "json") == 0;
			break;
		case 'H':
		case 'A':
			if (o.table != EXPORT_TRIALS)
				return bad_usage("%s", "export: --history or "
						 "--ablation, not both");
			o.table = ch == 'H' ? EXPORT_HISTORY : EXPORT_ABLATION;
			break;
		case 'o': o.out = optarg; break;
		case 'h': return fputs(usage, stdout), EXIT_OK;
		default: return bad_usage("%s", "bad option for export");
		}
	}
	if (optind != argc - 1)
		return bad_usage("%s", "export needs exactly one DIR");
	o.dir = argv[optind];
	return export_experiment(&o);
}

static int cmd_dashboard(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dashboard", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = DASHBOARD_DEFAULT_LISTEN;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'D')
			listen = optarg;
		else if (ch == 'h')
			return fputs(usage, stdout), EXIT_OK;
		else
			return bad_usage("%s", "bad option for dashboard");
	}
	if (optind != argc - 1)
		return bad_usage("%s", "dashboard needs exactly one DIR");
	return dashboard_serve(argv[optind], listen);
}

static int cmd_logs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int follow = 0, ch;

	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		if (ch == 'f')
			follow = 1;
		else if (ch == 'h')
			return fputs(usage, stdout), EXIT_OK;
		else
			return bad_usage("%s", "bad option for logs");
	}
	if (optind != argc - 1 && optind != argc - 2)
		return bad_usage("%s", "logs needs DIR and at most one TRIAL");
	return logs_print(argv[optind], optind == argc - 2 ? argv[optind + 1]
							    : NULL, follow);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "help";

	/* Progress is read as it happens, also through `| tee` or a log file
	 * (a Spark driver's): one line at a time, never a block later. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1, 0, 0);
	if (strcmp(cmd, "resume") == 0)
		return cmd_run(argc - 1, argv + 1, 0, 1);
	if (strcmp(cmd, "simulate") == 0)
		return cmd_run(argc - 1, argv + 1, 1, 0);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(argc - 1, argv + 1);
	if (strcmp(cmd, "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (strcmp(cmd, "logs") == 0)
		return cmd_logs(argc - 1, argv + 1);
	if (strcmp(cmd, "dashboard") == 0)
		return cmd_dashboard(argc - 1, argv + 1);
	if (strcmp(cmd, "plot") == 0)
		return plot_exec(argc - 1, argv + 1);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0)
		return printf("maggy-engine %s\n", VERSION), EXIT_OK;
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0)
		return fputs(usage, stdout), argc > 1 ? EXIT_OK : EXIT_USAGE;
	return bad_usage("unknown command '%s'", cmd);
}
