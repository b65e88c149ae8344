/** Value types (TypeProto) and value infos, as plain data. */
import { DataType } from './dtype.js';

/** A dimension: a fixed size, a symbolic name, or unknown (null). */
export type Dim = number | string | null;

export type TypeInfo =
  | { kind: 'tensor'; elemType: DataType; shape?: Dim[]; denotation?: string; dimDenotations?: (string | undefined)[] }
  | { kind: 'sparse_tensor'; elemType: DataType; shape?: Dim[]; denotation?: string; dimDenotations?: (string | undefined)[] }
  | { kind: 'sequence'; elem?: TypeInfo; denotation?: string }
  | { kind: 'map'; keyType: DataType; value?: TypeInfo; denotation?: string }
  | { kind: 'optional'; elem?: TypeInfo; denotation?: string }
  | { kind: 'unknown'; denotation?: string };

export interface ValueInfo {
  name: string;
  type?: TypeInfo;
  docString?: string;
  /** Fields the IR does not model (e.g. metadata_props of newer IR versions); kept by src/onnx. */
  extra?: Record<string, unknown>;
}

export function tensorType(elemType: DataType, shape?: Dim[]): TypeInfo {
  return shape ? { kind: 'tensor', elemType, shape } : { kind: 'tensor', elemType };
}

export function shapeOf(v: ValueInfo | undefined): Dim[] | undefined {
  const t = v?.type;
  return t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') ? t.shape : undefined;
}

export function elemTypeOf(v: ValueInfo | undefined): DataType | undefined {
  const t = v?.type;
  return t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') ? t.elemType : undefined;
}
