package store

// ClaimSQL lets the benchmark explain the claim statement.
const ClaimSQL = claimSQL
