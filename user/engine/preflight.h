/* SPDX-License-Identifier: MIT */
/*
 * preflight.h - can this process sample at all?  Checked before anything
 * is loaded, so each missing piece gets its own one-line message.
 */
#ifndef PYSPY_PREFLIGHT_H
#define PYSPY_PREFLIGHT_H

/*
 * 0, or -EPERM / -ENOENT after logging the reason.  Capabilities held as
 * permitted only (file capabilities without the effective bit) are raised.
 */
int preflight_privileges(void);
int preflight_btf(void);

#endif /* PYSPY_PREFLIGHT_H */
