/*
 * fuzz_check: the one assertion the harnesses use. A failed check is a
 * crash that libFuzzer records (it saves the input), and its message goes
 * to the sanitizers' report stream: scripts/fuzz runs the targets with
 * -close_fd_mask=3, which silences the code under test's own stdout and
 * stderr but keeps that stream (__sanitizer_report_error_summary prints
 * "SUMMARY: <text>" there). Harness code only, never the engine's.
 */
#pragma once

#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                \
	do {                                                                 \
		if (!(cond)) {                                               \
			char fuzz_msg_[512];                                 \
			int fuzz_n_ = snprintf(fuzz_msg_, sizeof fuzz_msg_,  \
					       "%s:%d: check '%s' failed: ", \
					       __FILE__, __LINE__, #cond);   \
			if (fuzz_n_ > 0 && fuzz_n_ < (int)sizeof fuzz_msg_)  \
				snprintf(fuzz_msg_ + fuzz_n_,                \
					 sizeof fuzz_msg_ - fuzz_n_,         \
					 __VA_ARGS__);                       \
			__sanitizer_report_error_summary(fuzz_msg_);         \
			abort();                                             \
		}                                                            \
	} while (0)

/* 1 when s (NUL-terminated; NULL counts as valid) is valid UTF-8, which
 * jansson needs to put it in JSON. Overlong forms and surrogates are not
 * looked for: the texts checked come from jansson or from cutting its
 * output, never from raw bytes. */
static inline int fuzz_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (p && *p) {
		size_t n = *p < 0x80 ? 1 : *p >= 0xC2 && *p < 0xE0 ? 2
			 : *p >= 0xE0 && *p < 0xF0 ? 3
			 : *p >= 0xF0 && *p < 0xF5 ? 4 : 0;
		if (n == 0)
			return 0;
		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xC0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}
