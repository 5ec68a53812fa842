// EIP-712 helpers for the margin record (docs/margin-signature.md), using npm ethers only.
//   node tests/margin_eip712.mjs vectors           prints digest vectors for check_unit_margin.c
//   node tests/margin_eip712.mjs verify FILE.json  FILE = {chain_id, record, signature, signer}
//     prints the recovered address; exits 1 when it is not the signer or when a record with any
//     one field changed still verifies.
import { ethers } from "ethers";
import { readFileSync } from "node:fs";

export const types = {
  MarginRecord: [
    { name: "portfolioId", type: "bytes32" },
    { name: "sequence", type: "uint64" },
    { name: "paramsVersion", type: "uint64" },
    { name: "band", type: "uint8" },
    { name: "equity", type: "int256" },
    { name: "maintenanceMargin", type: "uint256" },
    { name: "initialMargin", type: "uint256" },
    { name: "healthScoreBps", type: "int256" },
    { name: "maxBorrow", type: "uint256" },
    { name: "asOf", type: "uint64" },
    { name: "cureDeadline", type: "uint64" },
  ],
};
const domain = (chainId) => ({ name: "sparkd", version: "1", chainId });

const mode = process.argv[2];
if (mode === "vectors") {
  const v = {
    portfolioId: ethers.keccak256(ethers.toUtf8Bytes("42")),
    sequence: 3n,
    paramsVersion: 2n,
    band: 2,
    equity: -1500000000000n,
    maintenanceMargin: 3100000000000n,
    initialMargin: 4650000000000n,
    healthScoreBps: -4838n,
    maxBorrow: 0n,
    asOf: 1767225600n,
    cureDeadline: 1767312000n,
  };
  console.log("struct", ethers.TypedDataEncoder.hashStruct("MarginRecord", types, v));
  console.log("digest", ethers.TypedDataEncoder.hash(domain(1), types, v));
  console.log("encodeType", ethers.TypedDataEncoder.from(types).encodeType("MarginRecord"));
} else if (mode === "verify") {
  const f = JSON.parse(readFileSync(process.argv[3], "utf8"));
  const rec = f.record;
  const addr = ethers.verifyTypedData(domain(f.chain_id), types, rec, f.signature);
  console.log(addr);
  if (addr.toLowerCase() !== f.signer.toLowerCase()) {
    console.error("recovered " + addr + ", signer " + f.signer);
    process.exit(1);
  }
  for (const k of Object.keys(rec)) {
    const m = { ...rec };
    if (k === "portfolioId") m[k] = ethers.keccak256(ethers.toUtf8Bytes("other"));
    else m[k] = BigInt(m[k]) + 1n;
    let other = "";
    try {
      other = ethers.verifyTypedData(domain(f.chain_id), types, m, f.signature);
    } catch (e) {
      continue;
    }
    if (other.toLowerCase() === f.signer.toLowerCase()) {
      console.error("changed " + k + " still verifies");
      process.exit(1);
    }
  }
} else {
  console.error("usage: margin_eip712.mjs vectors|verify FILE");
  process.exit(2);
}
