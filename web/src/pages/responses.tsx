import { PageHeader } from "@/components/page";

export default function Responses() {
  return <PageHeader title="Responses" description="Coming in the next slice." />;
}
