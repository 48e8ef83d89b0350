/* netaddr: listen addresses. See netaddr.h. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int netaddr_parse(const char *listen, struct sockaddr_storage *ss,
		  int *sslen, char *err, size_t errlen)
{
	char host[256], *end;
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	size_t hlen;
	long port;
	int rc;

	if (colon == NULL || colon == listen || colon[1] == '\0')
		goto bad;
	/* getaddrinfo takes any number and keeps its low 16 bits */
	port = strtol(colon + 1, &end, 10);
	if (*end == '\0' && (port < 0 || port > 65535)) {
		snprintf(err, errlen, "cannot use listen address '%s': the port "
			 "must be 0 to 65535", listen);
		return -1;
	}
	hlen = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']')
		listen++, hlen -= 2;
	if (hlen >= sizeof host)
		goto bad;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "cannot use listen address '%s': %s",
			 listen, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = (int)ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errlen, "cannot parse listen address '%s' "
			      "(expected HOST:PORT, e.g. 127.0.0.1:0)", listen);
	return -1;
}

void netaddr_describe(const struct sockaddr *sa, char *out, size_t len,
		      uint8_t source[16])
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (source)
		memset(source, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
		if (source)
			memcpy(source, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
		if (source)
			memcpy(source, &in6->sin6_addr, 16);
	}
	snprintf(out, len, "%s:%d", host, port);
}

int netaddr_listen(const char *where, int backlog, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen, fd, one = 1;

	if (netaddr_parse(where, &ss, &sslen, err, errlen) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, (socklen_t)sslen) < 0 ||
	    listen(fd, backlog) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", where,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}
