"""What changed and what must run again: signatures, the delta walk, no-op proofs, dirty/accept."""
