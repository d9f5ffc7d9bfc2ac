// Recipe: docs/sdk/dataset.mdx
import { createTrainer, type DatasetSource } from "arkor";

const fromHub: DatasetSource = {
  type: "huggingface",
  name: "arkorlab/triage-demo",
  // split: "train",
  // subset: "v1",
};

const fromBlob: DatasetSource = {
  type: "blob",
  url: "https://example.com/data.jsonl",
  // token: process.env.DATASET_TOKEN,
};

export const hubTrainer = createTrainer({
  name: "hub-dataset",
  model: "unsloth/gemma-4-E4B-it",
  dataset: fromHub,
});

export const blobTrainer = createTrainer({
  name: "blob-dataset",
  model: "unsloth/gemma-4-E4B-it",
  dataset: fromBlob,
});
