/* SPDX-License-Identifier: MIT */
/*
 * spin.S - hx_spin(n): n iterations of a loop, for the --native bad-input
 * tests.  -DBAD_CFI_LOOP gives it CFI that says the caller's stack pointer
 * is its own (CFA = rsp + 0): a walk that followed it would never move.
 * -DCFI_BOMB=N puts N DW_CFA_remember_state/restore_state pairs in its
 * FDE (2N bytes of instructions, no address advanced): a reader that
 * keeps a state per pair grows without bound.
 */
	.text
	.globl	hx_spin
	.type	hx_spin, @function
hx_spin:
	.cfi_startproc
#ifdef BAD_CFI_LOOP
	.cfi_def_cfa %rsp, 0
#endif
#ifdef CFI_BOMB
	.rept CFI_BOMB
	.cfi_remember_state
	.cfi_restore_state
	.endr
#endif
1:	dec	%rdi
	jnz	1b
	ret
	.cfi_endproc
	.size	hx_spin, .-hx_spin
	.section .note.GNU-stack, "", @progbits
