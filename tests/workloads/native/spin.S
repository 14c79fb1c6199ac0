/* SPDX-License-Identifier: MIT */
/*
 * spin.S - hx_spin(n): n iterations of a loop, for the --native bad-input
 * tests.  -DBAD_CFI_LOOP gives it CFI that says the caller's stack pointer
 * is its own (CFA = rsp + 0): a walk that followed it would never move.
 */
	.text
	.globl	hx_spin
	.type	hx_spin, @function
hx_spin:
	.cfi_startproc
#ifdef BAD_CFI_LOOP
	.cfi_def_cfa %rsp, 0
#endif
1:	dec	%rdi
	jnz	1b
	ret
	.cfi_endproc
	.size	hx_spin, .-hx_spin
	.section .note.GNU-stack, "", @progbits
