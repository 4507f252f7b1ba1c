"""A study's tables from input to analysis: the contract, validation, pseudonyms (`privacy`),
cleaning, features, Table 1 (`descriptives`), and `chain`, which runs them in order. Imports only
`util`."""
