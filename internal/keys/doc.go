// Package keys owns Valet's signing keys: it generates them on first start,
// seals their private halves with the key-encryption secret before they reach
// the database, shares them with every node through that database, signs
// JWTs with the newest usable key of an algorithm, and publishes the public
// halves as a JWK Set.
package keys
